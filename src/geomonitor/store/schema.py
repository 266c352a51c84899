"""The store's schema: SQL migrations, applied in order.

The schema version is SQLite's ``user_version``; :func:`migrate` brings any older file up
to date when it is opened. Migrations are only ever appended.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE registry_versions (
        version INTEGER PRIMARY KEY,
        loaded_at TEXT NOT NULL,
        source TEXT,
        sha256 TEXT NOT NULL,
        added INTEGER NOT NULL, changed INTEGER NOT NULL, removed INTEGER NOT NULL
    );
    CREATE TABLE registry_entities (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        version_from INTEGER NOT NULL REFERENCES registry_versions(version),
        version_to INTEGER REFERENCES registry_versions(version),
        content TEXT NOT NULL,
        PRIMARY KEY (kind, id, version_from)
    );
    CREATE INDEX registry_current ON registry_entities(version_to);
    CREATE TABLE fixes (
        tag_id TEXT NOT NULL,
        ts INTEGER NOT NULL,
        lat REAL NOT NULL, lon REAL NOT NULL,
        x REAL NOT NULL, y REAL NOT NULL,
        accuracy_m REAL NOT NULL,
        battery_pct REAL, strap TEXT NOT NULL, charging INTEGER, source TEXT NOT NULL,
        rank INTEGER NOT NULL,
        extra TEXT,
        PRIMARY KEY (tag_id, ts)
    ) WITHOUT ROWID;
    CREATE TABLE anpr_reads (
        read_id TEXT PRIMARY KEY,
        camera_id TEXT NOT NULL,
        vrm TEXT NOT NULL, vrm_raw TEXT NOT NULL,
        ts INTEGER NOT NULL,
        lat REAL NOT NULL, lon REAL NOT NULL,
        confidence REAL, direction TEXT, extra TEXT
    );
    CREATE INDEX anpr_vrm_ts ON anpr_reads(vrm, ts);
    CREATE TABLE candidates (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        order_id TEXT NOT NULL,
        condition_id TEXT NOT NULL,
        zone_id TEXT,
        opened_at INTEGER NOT NULL,
        closed_at INTEGER,
        status TEXT NOT NULL,
        fix_count INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX candidates_status ON candidates(status, opened_at);
    CREATE TABLE candidate_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        candidate_id TEXT NOT NULL,
        action TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        body TEXT
    );
    CREATE INDEX candidate_events_id ON candidate_events(candidate_id, seq);
    CREATE TABLE rejected (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        locator TEXT NOT NULL,
        reason TEXT NOT NULL,
        field TEXT,
        message TEXT NOT NULL,
        raw TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX rejected_reason ON rejected(reason);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        command TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        summary TEXT
    );
    """,
    # 2: device health events (the faulty-unit audit reads these)
    """
    CREATE TABLE device_events (
        tag_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        subject_id TEXT,
        details TEXT NOT NULL,
        evidence TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (tag_id, kind, started_at)
    );
    CREATE INDEX device_events_kind ON device_events(kind, started_at);
    """,
    # 3: stream consumers: offsets stored with the results they produced, which tags
    # arrive on which partition (to warm an engine for its partitions), and an outbox of
    # output messages published after each commit (see docs/deployment.md)
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE stream_offsets (
        group_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        partition INTEGER NOT NULL,
        next_offset INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (group_id, topic, partition)
    );
    CREATE TABLE tag_partitions (
        topic TEXT NOT NULL,
        tag_id TEXT NOT NULL,
        partition INTEGER NOT NULL,
        PRIMARY KEY (topic, tag_id)
    );
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL,
        topic TEXT NOT NULL,
        key BLOB,
        value BLOB NOT NULL,
        headers TEXT NOT NULL,
        published INTEGER NOT NULL DEFAULT 0,
        out_partition INTEGER,
        out_offset INTEGER
    );
    CREATE INDEX outbox_pending ON outbox(owner, published, seq);
    """,
    # 4: the co-location follower (non-association, undeclared vehicles) reads the fixes of
    # the tags it follows from a log the store keeps for it: which (tag, instant) was
    # stored or replaced, in order. Nothing is logged until a follower names its tags.
    """
    CREATE TABLE colocation_tags (tag_id TEXT PRIMARY KEY);
    CREATE TABLE fix_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tag_id TEXT NOT NULL,
        ts INTEGER NOT NULL
    );
    CREATE TRIGGER fix_log_insert AFTER INSERT ON fixes
    WHEN NEW.tag_id IN (SELECT tag_id FROM colocation_tags)
    BEGIN
        INSERT INTO fix_log (tag_id, ts) VALUES (NEW.tag_id, NEW.ts);
    END;
    CREATE TRIGGER fix_log_update AFTER UPDATE ON fixes
    WHEN NEW.tag_id IN (SELECT tag_id FROM colocation_tags)
    BEGIN
        INSERT INTO fix_log (tag_id, ts) VALUES (NEW.tag_id, NEW.ts);
    END;
    """,
    # 5: the links between a retracted candidate and the one that superseded it
    """
    ALTER TABLE candidate_events ADD COLUMN link TEXT;
    """,
    # 6: the tag inventory: every change to a unit (from commands and registry loads),
    # and each district's demand (referrals waiting for a tag), both append-only
    """
    CREATE TABLE tag_events (
        seq INTEGER PRIMARY KEY,
        tag_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        action TEXT NOT NULL,
        district TEXT, subject_id TEXT, status TEXT,
        reason TEXT NOT NULL, actor TEXT NOT NULL, source TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE
    );
    CREATE INDEX tag_events_tag ON tag_events(tag_id, at);
    CREATE TABLE demand (
        seq INTEGER PRIMARY KEY,
        district TEXT NOT NULL,
        at INTEGER NOT NULL,
        waiting INTEGER NOT NULL,
        reason TEXT NOT NULL, actor TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX demand_district ON demand(district, at);
    CREATE TRIGGER tag_events_append_only BEFORE UPDATE ON tag_events
    BEGIN SELECT RAISE(ABORT, 'tag history is append-only'); END;
    CREATE TRIGGER tag_events_no_delete BEFORE DELETE ON tag_events
    BEGIN SELECT RAISE(ABORT, 'tag history is append-only'); END;
    """,
    # 7: the monitoring desk: review state and history of candidates, accounts, sessions,
    # login attempts, and an append-only audit log chained by hashes
    """
    CREATE TABLE reviews (
        candidate_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        outcome TEXT, reason TEXT,
        decided_at INTEGER,
        updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL
    );
    CREATE TABLE review_events (
        seq INTEGER PRIMARY KEY,
        candidate_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        state TEXT NOT NULL,
        outcome TEXT, reason TEXT, note TEXT
    );
    CREATE INDEX review_events_candidate ON review_events(candidate_id, seq);
    CREATE TRIGGER review_events_append_only BEFORE UPDATE ON review_events
    BEGIN SELECT RAISE(ABORT, 'review history is append-only'); END;
    CREATE TRIGGER review_events_no_delete BEFORE DELETE ON review_events
    BEGIN SELECT RAISE(ABORT, 'review history is append-only'); END;
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        origin TEXT NOT NULL,
        detail TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TABLE users (
        username TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        district TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE login_attempts (
        username TEXT NOT NULL,
        origin TEXT NOT NULL,
        at INTEGER NOT NULL,
        ok INTEGER NOT NULL
    );
    CREATE INDEX login_attempts_user ON login_attempts(username, at);
    CREATE INDEX login_attempts_origin ON login_attempts(origin, at);
    """,
    # 8: the live service: arrivals of fixes per source (the feed's lag), and the
    # notification outbox with every send attempt
    """
    CREATE TABLE arrivals (
        seq INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        fixes INTEGER NOT NULL,
        first_ts INTEGER NOT NULL,
        last_ts INTEGER NOT NULL,
        lag_p50_ms INTEGER NOT NULL,
        lag_p95_ms INTEGER NOT NULL
    );
    CREATE INDEX arrivals_source ON arrivals(source, received_at);
    CREATE TABLE notifications (
        id INTEGER PRIMARY KEY,
        candidate_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        recipient TEXT NOT NULL,
        severity TEXT NOT NULL,
        queued_at INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        sent_at INTEGER,
        message_id TEXT NOT NULL,
        last_error TEXT,
        UNIQUE (candidate_id, purpose, recipient)
    );
    CREATE INDEX notifications_due ON notifications(state, next_attempt_at);
    CREATE TABLE notification_attempts (
        seq INTEGER PRIMARY KEY,
        notification_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        error TEXT
    );
    CREATE INDEX notification_attempts_id ON notification_attempts(notification_id, seq);
    """,
    # 9: the law: the audit log becomes the consultation log (purpose, allowed or refused,
    # whose district, which subjects) chained by a keyed hash; login attempts keyed by a
    # hash of the name typed (never the name) and recorded before the password is checked;
    # desk accounts bound to an operating-system account; legal holds and withdrawals of
    # consent; append-only tables that only a retention run (a row in retention_active,
    # inside its transaction) may delete from
    """
    ALTER TABLE audit_log ADD COLUMN purpose TEXT;
    ALTER TABLE audit_log ADD COLUMN outcome TEXT NOT NULL DEFAULT 'ok';
    ALTER TABLE audit_log ADD COLUMN district TEXT;
    ALTER TABLE audit_log ADD COLUMN subjects TEXT;
    CREATE INDEX audit_log_district ON audit_log(district, seq);
    DROP TRIGGER audit_log_append_only;
    ALTER TABLE users ADD COLUMN os_account TEXT;
    DROP TABLE login_attempts;
    CREATE TABLE login_attempts (
        seq INTEGER PRIMARY KEY,
        name_key TEXT NOT NULL,
        origin TEXT NOT NULL,
        at INTEGER NOT NULL,
        ok INTEGER
    );
    CREATE INDEX login_attempts_name ON login_attempts(name_key, at);
    CREATE INDEX login_attempts_origin ON login_attempts(origin, at);
    CREATE TABLE legal_holds (
        subject_id TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        at INTEGER NOT NULL,
        by TEXT NOT NULL
    );
    CREATE TABLE withdrawals (
        subject_id TEXT PRIMARY KEY,
        at INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL,
        by TEXT NOT NULL
    );
    CREATE TABLE retired_subjects (
        subject_id TEXT PRIMARY KEY,
        data_end INTEGER NOT NULL,
        removed_at INTEGER NOT NULL
    );
    CREATE TABLE retention_active (run INTEGER PRIMARY KEY);
    DROP TRIGGER review_events_no_delete;
    CREATE TRIGGER review_events_no_delete BEFORE DELETE ON review_events
    WHEN NOT EXISTS (SELECT 1 FROM retention_active)
    BEGIN SELECT RAISE(ABORT, 'review history is append-only'); END;
    DROP TRIGGER tag_events_no_delete;
    CREATE TRIGGER tag_events_no_delete BEFORE DELETE ON tag_events
    WHEN NOT EXISTS (SELECT 1 FROM retention_active)
    BEGIN SELECT RAISE(ABORT, 'tag history is append-only'); END;
    """,
    # 10: orders as they really are: authorised absences (recorded, cancelled, never
    # deleted but by retention), the candidates an absence kept off the desk, why a
    # candidate was judged again (an absence or a variation), and a counter of changes to
    # what the engine judges by (stream consumers rebuild when it moves)
    """
    CREATE TABLE absences (
        id TEXT PRIMARY KEY,
        subject_id TEXT NOT NULL,
        starts INTEGER NOT NULL,
        ends INTEGER NOT NULL,
        lat REAL, lon REAL, radius_m REAL,
        authorised_by TEXT NOT NULL,
        reason TEXT NOT NULL,
        recorded_at INTEGER NOT NULL,
        recorded_by TEXT NOT NULL,
        cancelled_at INTEGER,
        cancelled_by TEXT,
        cancel_reason TEXT
    );
    CREATE INDEX absences_subject ON absences(subject_id, starts);
    CREATE TABLE authorised (
        candidate_id TEXT PRIMARY KEY,
        subject_id TEXT NOT NULL,
        absence_id TEXT NOT NULL,
        body TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX authorised_subject ON authorised(subject_id);
    ALTER TABLE candidate_events ADD COLUMN cause TEXT;
    INSERT OR IGNORE INTO meta VALUES ('judging', '0');
    """,
    # 11: the zone index's covers kept between runs, by what each depends on (the zone's
    # geometry, the H3 resolution, the margin, the way covers are built)
    """
    CREATE TABLE zone_covers (
        key TEXT PRIMARY KEY,
        cells BLOB NOT NULL,
        kind BLOB NOT NULL,
        clearance BLOB NOT NULL,
        built_at TEXT NOT NULL
    );
    """,
]
#: migrations that finish in Python (the audit log's rows chained again with the key)
AUDIT_REKEY = 9
SCHEMA_VERSION = len(MIGRATIONS)


def split_sql(script: str) -> list[str]:
    """Statements of a script (a trigger's body holds semicolons of its own)."""
    out: list[str] = []
    buf = ""
    for part in script.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                out.append(buf.strip())
            buf = ""
    return out
