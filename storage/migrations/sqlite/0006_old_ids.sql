-- The third and largest id index (storage.sqlite.MOVE_SLICES): event_ids, once it holds
-- LEVEL_IDS, is emptied into it one range of ids per commit. Moving 50,000 random ids into one
-- index of millions touched most of its pages, which SQLite's log writes whole (72 MB a move at
-- 3,000,000 ids): publishing went from 56,000 to 31,000 events/s by 3,000,000 events. A range
-- of ids touches only the pages of that range. Same columns; an id is in one of the three.
CREATE TABLE event_ids_old (
    id           BLOB    PRIMARY KEY,
    seq          INTEGER NOT NULL,
    published_at INTEGER NOT NULL
) WITHOUT ROWID;
