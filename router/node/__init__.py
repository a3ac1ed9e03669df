"""The process: serving (a leader, a standby, a follower), start-up checks, the first
admin token, the demo. Above the edges.
"""
