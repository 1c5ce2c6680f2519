-- Audit records hold any bytes, and a record written twice is stored once.
--
-- Bodies and headers were text and jsonb, which refuse a NUL byte: one such
-- request made the whole batch fail. They become bytea (headers a list of
-- [name, value] byte pairs). Existing rows keep their text as UTF-8 bytes.
-- record_id lets the writer retry a batch (or drain a spool file again after a
-- crash) without duplicating rows.

ALTER TABLE audit_log ADD COLUMN record_id uuid;
UPDATE audit_log SET record_id = gen_random_uuid();
ALTER TABLE audit_log
    ALTER COLUMN record_id SET NOT NULL,
    ALTER COLUMN record_id SET DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX audit_log_record_id ON audit_log (record_id);

ALTER TABLE audit_log
    ALTER COLUMN request_body TYPE bytea USING convert_to(request_body, 'UTF8');

ALTER TABLE audit_log ADD COLUMN request_headers_bytes bytea[][] NOT NULL DEFAULT '{}';
UPDATE audit_log SET request_headers_bytes = ARRAY(
    SELECT ARRAY[convert_to(pair ->> 0, 'UTF8'), convert_to(pair ->> 1, 'UTF8')]
    FROM jsonb_array_elements(request_headers) AS pair
) WHERE jsonb_array_length(request_headers) > 0;
ALTER TABLE audit_log DROP COLUMN request_headers;
ALTER TABLE audit_log RENAME COLUMN request_headers_bytes TO request_headers;
