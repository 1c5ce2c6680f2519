-- The Matrix bot: where its sync stopped, and finding a request by the
-- event a reaction or reply points at.

-- The sync token of each bot account, saved after every sync, so the replica
-- that takes over the sync loop goes on where the last one stopped (nothing
-- said in between is lost, nothing is acted on twice).
CREATE TABLE matrix_sync_state (
    account     text PRIMARY KEY,
    next_batch  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A reaction names only the event it reacts to; this finds the request whose
-- Matrix message that event is (message_ref = {room_id, event_id, ...}).
CREATE INDEX channel_outbox_matrix_event
    ON channel_outbox ((message_ref ->> 'event_id'))
    WHERE kind = 'matrix';
