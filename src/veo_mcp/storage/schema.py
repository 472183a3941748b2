"""The database schema: each entry of `MIGRATIONS` upgrades it by one version (`PRAGMA user_version`)."""

from __future__ import annotations

# Each entry upgrades the schema by one version (PRAGMA user_version). Append, never edit a released entry.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE generations (
        task_id TEXT PRIMARY KEY,
        request_id TEXT,
        fingerprint TEXT,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        request_json TEXT NOT NULL,
        simulated INTEGER NOT NULL,
        estimate_json TEXT,
        status TEXT NOT NULL,
        progress INTEGER NOT NULL,
        estimated_time_s REAL,
        result_urls_json TEXT NOT NULL,
        error_code TEXT,
        error_message TEXT,
        notes_json TEXT NOT NULL,
        files_json TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        completed_at REAL,
        download_state TEXT NOT NULL DEFAULT 'none',
        download_error TEXT,
        download_attempts INTEGER NOT NULL DEFAULT 0,
        download_owner TEXT,
        download_claimed_at REAL
    );
    CREATE INDEX generations_by_created ON generations (created_at);
    CREATE TABLE creates (
        key TEXT PRIMARY KEY,
        request_id TEXT UNIQUE,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        task_id TEXT,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        estimate_usd REAL,
        message TEXT,
        owner TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX creates_by_fingerprint ON creates (fingerprint, created_at);
    CREATE INDEX creates_by_created ON creates (created_at);
    """,
    """
    CREATE TABLE uploads (
        sha256 TEXT PRIMARY KEY,
        file_url TEXT NOT NULL,
        file_name TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        uploaded_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE declines (
        fingerprint TEXT PRIMARY KEY,
        declined_at REAL NOT NULL
    );
    """,
    # MCP tasks (task-augmented tool calls) and the generation each one follows; `followed` = 0 once a cancelled
    # task stopped veo-mcp polling and saving a generation.
    """
    CREATE TABLE mcp_tasks (
        task_id TEXT PRIMARY KEY,
        generation_task_id TEXT NOT NULL,
        tool TEXT NOT NULL,
        call_result_json TEXT NOT NULL,
        created_at REAL NOT NULL,
        ttl_ms INTEGER NOT NULL,
        cancelled_at REAL,
        cancel_message TEXT
    );
    CREATE INDEX mcp_tasks_by_generation ON mcp_tasks (generation_task_id);
    CREATE INDEX mcp_tasks_by_created ON mcp_tasks (created_at);
    ALTER TABLE generations ADD COLUMN followed INTEGER NOT NULL DEFAULT 1;
    """,
    # Batches (generate_batch, `veo-mcp batch`): the items, their derived request_ids and what became of each;
    # `owner` is the process running the queue. `callback_hash`: the SHA-256 of the secret in a create's callback URL.
    """
    CREATE TABLE batches (
        batch_id TEXT PRIMARY KEY,
        request_id TEXT,
        fingerprint TEXT NOT NULL,
        label TEXT NOT NULL,
        estimate_usd REAL,
        allow_duplicate INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        cancelled_at REAL
    );
    CREATE INDEX batches_by_fingerprint ON batches (fingerprint, created_at);
    CREATE TABLE batch_items (
        batch_id TEXT NOT NULL REFERENCES batches (batch_id),
        position INTEGER NOT NULL,
        arguments_json TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        notes_json TEXT NOT NULL,
        request_id TEXT NOT NULL,
        estimate_usd REAL,
        duration INTEGER NOT NULL,
        state TEXT NOT NULL,
        task_id TEXT,
        message TEXT,
        reused INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL,
        PRIMARY KEY (batch_id, position)
    );
    CREATE INDEX batch_items_by_task ON batch_items (task_id);
    ALTER TABLE creates ADD COLUMN callback_hash TEXT;
    CREATE INDEX creates_by_callback ON creates (callback_hash);
    """,
    # Every generation belongs to a principal (the person it was made for: "local" on stdio and the CLI, a users-file
    # name, or "oauth:<sub>"); rows written before this belong to "local". `owner` was taken (the process holding a
    # lease), hence `principal`. A request_id is unique per principal, not across them, so `creates` is rebuilt.
    """
    ALTER TABLE generations ADD COLUMN principal TEXT NOT NULL DEFAULT 'local';
    CREATE INDEX generations_by_principal ON generations (principal, created_at);
    CREATE TABLE creates_by_principal (
        key TEXT PRIMARY KEY,
        request_id TEXT,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        task_id TEXT,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        estimate_usd REAL,
        message TEXT,
        owner TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        callback_hash TEXT,
        principal TEXT NOT NULL DEFAULT 'local',
        UNIQUE (principal, request_id)
    );
    INSERT INTO creates_by_principal (key, request_id, fingerprint, state, task_id, model, prompt, payload_json,
        estimate_usd, message, owner, created_at, updated_at, callback_hash)
        SELECT key, request_id, fingerprint, state, task_id, model, prompt, payload_json, estimate_usd, message, owner,
        created_at, updated_at, callback_hash FROM creates;
    DROP TABLE creates;
    ALTER TABLE creates_by_principal RENAME TO creates;
    CREATE INDEX creates_by_fingerprint ON creates (principal, fingerprint, created_at);
    CREATE INDEX creates_by_created ON creates (principal, created_at);
    CREATE INDEX creates_by_callback ON creates (callback_hash);
    CREATE INDEX creates_by_task ON creates (task_id);
    ALTER TABLE batches ADD COLUMN principal TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE mcp_tasks ADD COLUMN principal TEXT NOT NULL DEFAULT 'local';
    """,
    # Replicas: each one's heartbeat (`processes`; `storage.owners`), and which process polls each task upstream.
    """
    CREATE TABLE processes (
        owner TEXT PRIMARY KEY,
        seen_at REAL NOT NULL
    );
    CREATE TABLE poll_claims (
        task_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        claimed_at REAL NOT NULL
    );
    """,
    # A batch is its principal's: (principal, batch_id) is the key of a batch and of its items, so no id a user can
    # choose or guess reaches another principal's batch, whatever characters it holds.
    """
    CREATE TABLE batches_by_principal (
        principal TEXT NOT NULL DEFAULT 'local',
        batch_id TEXT NOT NULL,
        request_id TEXT,
        fingerprint TEXT NOT NULL,
        label TEXT NOT NULL,
        estimate_usd REAL,
        allow_duplicate INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        cancelled_at REAL,
        PRIMARY KEY (principal, batch_id)
    );
    INSERT INTO batches_by_principal (principal, batch_id, request_id, fingerprint, label, estimate_usd,
        allow_duplicate, owner, created_at, updated_at, cancelled_at)
        SELECT principal, batch_id, request_id, fingerprint, label, estimate_usd, allow_duplicate, owner, created_at,
        updated_at, cancelled_at FROM batches;
    CREATE TABLE batch_items_by_principal (
        principal TEXT NOT NULL DEFAULT 'local',
        batch_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        arguments_json TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        notes_json TEXT NOT NULL,
        request_id TEXT NOT NULL,
        estimate_usd REAL,
        duration INTEGER NOT NULL,
        state TEXT NOT NULL,
        task_id TEXT,
        message TEXT,
        reused INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL,
        PRIMARY KEY (principal, batch_id, position)
    );
    INSERT INTO batch_items_by_principal (principal, batch_id, position, arguments_json, payload_json, notes_json,
        request_id, estimate_usd, duration, state, task_id, message, reused, updated_at)
        SELECT b.principal, i.batch_id, i.position, i.arguments_json, i.payload_json, i.notes_json, i.request_id,
        i.estimate_usd, i.duration, i.state, i.task_id, i.message, i.reused, i.updated_at
        FROM batch_items i JOIN batches b ON b.batch_id = i.batch_id;
    DROP TABLE batch_items;
    DROP TABLE batches;
    ALTER TABLE batches_by_principal RENAME TO batches;
    ALTER TABLE batch_items_by_principal RENAME TO batch_items;
    CREATE INDEX batches_by_fingerprint ON batches (principal, fingerprint, created_at);
    CREATE INDEX batch_items_by_task ON batch_items (task_id);
    """,
    # The output folder of each principal, recorded once: `folder_key` (the name case-folded, as case-insensitive
    # filesystems compare names) is unique, so no two principals ever share a folder, whatever their names.
    """
    CREATE TABLE principal_folders (
        principal TEXT PRIMARY KEY,
        folder TEXT NOT NULL,
        folder_key TEXT NOT NULL UNIQUE,
        assigned_at REAL NOT NULL
    );
    """,
    # What EvoLink reserved for an accepted create (`usage.credits_reserved`, in USD): the budgets count it instead of
    # the estimate once it is known (for a model without a published price the estimate is only a ceiling).
    """
    ALTER TABLE creates ADD COLUMN reserved_usd REAL;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
