-- One schema, written twice: this file and ../postgres/0001_initial.sql differ only
-- in the byte type (BLOB / BYTEA). Ids are random TEXT, times are epoch ms BIGINT.
-- Never edit a published migration: add a new one.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    ssi_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    region TEXT NOT NULL DEFAULT 'default',
    is_developer BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_account ON sessions(account_id);

-- Cluster-wide rate-limit counters (fixed windows), keyed by purpose and subject.
CREATE TABLE rate_limits (
    bucket TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL
);

-- RFC 8628 device authorization requests.
CREATE TABLE device_authorizations (
    device_code_hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    device_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    interval_secs BIGINT NOT NULL,
    last_poll_at BIGINT,
    status TEXT NOT NULL DEFAULT 'pending',
    account_id TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    device_id TEXT
);

-- Deregistering deletes the row, which revokes the credential at once.
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    credential_hash TEXT NOT NULL UNIQUE,
    ssi_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    mode TEXT NOT NULL DEFAULT 'normal',
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT
);
CREATE INDEX devices_by_account ON devices(account_id);

CREATE TABLE idps (
    id TEXT PRIMARY KEY,
    developer_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX idps_by_developer ON idps(developer_id);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    developer_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    package_id TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    icon_type TEXT,
    icon BLOB,
    idp_id TEXT REFERENCES idps(id),
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE INDEX apps_by_developer ON apps(developer_id);
CREATE INDEX apps_by_idp ON apps(idp_id);

-- App key pairs; the private scalar is sealed under the master key (AAD = kid).
CREATE TABLE app_keys (
    kid TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    private_sealed BLOB NOT NULL,
    master_key_version BIGINT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    expires_at BIGINT
);
CREATE INDEX app_keys_by_app ON app_keys(app_id);

-- Partner API keys: only a SHA-256 of the key is stored.
CREATE TABLE partner_api_keys (
    id TEXT PRIMARY KEY,
    developer_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX partner_api_keys_by_developer ON partner_api_keys(developer_id);

-- Links; the signing key's scalar is sealed under the master key (AAD = link id).
CREATE TABLE links (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    idp_id TEXT NOT NULL REFERENCES idps(id) ON DELETE CASCADE,
    partner_user_id TEXT NOT NULL,
    user_login_name TEXT NOT NULL,
    link_token TEXT NOT NULL,
    signing_key_sealed BLOB NOT NULL,
    signing_key_public BLOB NOT NULL,
    master_key_version BIGINT NOT NULL,
    created_by_app_id TEXT NOT NULL,
    created_by_device_id TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, idp_id, partner_user_id)
);
CREATE INDEX links_by_idp_partner_user ON links(idp_id, partner_user_id);

-- The owner's per-app switch (absent row = on).
CREATE TABLE app_settings (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    ssi_enabled BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, app_id)
);

-- The operator's region availability (absent row = available).
CREATE TABLE region_settings (
    region TEXT PRIMARY KEY,
    ssi_available BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sign_ins (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    device_id TEXT,
    link_id TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX sign_ins_by_account ON sign_ins(account_id, at);

-- Raw business events; (source, idempotency_key) makes delivery exactly-once.
CREATE TABLE metric_events (
    source TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    app_id TEXT NOT NULL,
    event TEXT NOT NULL,
    failure_reason TEXT,
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, idempotency_key)
);
CREATE INDEX metric_events_by_app_time ON metric_events(app_id, occurred_at);

-- Append-only; no secrets, no foreign keys (entries outlive their subjects).
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    request_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    account_id TEXT,
    subject TEXT,
    detail TEXT
);
CREATE INDEX audit_log_by_time ON audit_log(at);
CREATE INDEX audit_log_by_account ON audit_log(account_id, at);

-- Server-wide secrets (the directed-id key), sealed under the master key.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    sealed BLOB NOT NULL,
    master_key_version BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
