"""Who may do what, and what is allowed in: tokens and grants, each operation's access and
audit policy, the audit trail, quotas, event contracts, what a grant reaches, tethered
tokens. Above the actors and storage.
"""
