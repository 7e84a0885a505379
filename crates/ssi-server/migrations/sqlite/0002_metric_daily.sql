-- Daily aggregates of the business events per (app, UTC day): the reports of
-- DESIGN.md section 8 read only this table. Maintained in the transaction
-- that inserts a new raw event (store::metric_daily), recomputable from
-- metric_events (`ssi admin recompute-aggregates`).
--
-- day: days since 1970-01-01 UTC, occurred_at / 86400000 (integer division;
-- timestamps are positive). login_failure is the sum of its five reasons.
CREATE TABLE metric_daily (
    app_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    links_created BIGINT NOT NULL DEFAULT 0,
    consent_denied BIGINT NOT NULL DEFAULT 0,
    login_success BIGINT NOT NULL DEFAULT 0,
    login_failure BIGINT NOT NULL DEFAULT 0,
    login_failure_unauthorized BIGINT NOT NULL DEFAULT 0,
    login_failure_bad_request BIGINT NOT NULL DEFAULT 0,
    login_failure_not_found BIGINT NOT NULL DEFAULT 0,
    login_failure_forbidden BIGINT NOT NULL DEFAULT 0,
    login_failure_internal_server_error BIGINT NOT NULL DEFAULT 0,
    manual_signin_selected BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, day)
);

-- Recomputation reads the raw events of one day across all apps.
CREATE INDEX metric_events_by_time ON metric_events(occurred_at);

-- The events stored before this migration.
INSERT INTO metric_daily (app_id, day, links_created, consent_denied, login_success,
    login_failure, login_failure_unauthorized, login_failure_bad_request,
    login_failure_not_found, login_failure_forbidden, login_failure_internal_server_error,
    manual_signin_selected)
SELECT app_id, occurred_at / 86400000,
    SUM(CASE WHEN event = 'ENABLE_SSI' THEN 1 ELSE 0 END),
    SUM(CASE WHEN event = 'CONSENT_DENIED' THEN 1 ELSE 0 END),
    SUM(CASE WHEN event = 'LOGIN_SUCCESS' THEN 1 ELSE 0 END),
    SUM(CASE WHEN event = 'LOGIN_FAILURE' THEN 1 ELSE 0 END),
    SUM(CASE WHEN event = 'LOGIN_FAILURE' AND failure_reason = 'UNAUTHORIZED' THEN 1 ELSE 0 END),
    SUM(CASE WHEN event = 'LOGIN_FAILURE' AND failure_reason = 'BAD_REQUEST' THEN 1 ELSE 0 END),
    SUM(CASE WHEN event = 'LOGIN_FAILURE' AND failure_reason = 'NOT_FOUND' THEN 1 ELSE 0 END),
    SUM(CASE WHEN event = 'LOGIN_FAILURE' AND failure_reason = 'FORBIDDEN' THEN 1 ELSE 0 END),
    SUM(CASE WHEN event = 'LOGIN_FAILURE' AND failure_reason = 'INTERNAL_SERVER_ERROR' THEN 1 ELSE 0 END),
    SUM(CASE WHEN event = 'MANUAL_SIGNIN_SELECTED' THEN 1 ELSE 0 END)
FROM metric_events
GROUP BY app_id, occurred_at / 86400000;
