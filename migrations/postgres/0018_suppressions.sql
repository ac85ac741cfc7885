-- The suppression list: addresses and whole domains Herald never mails
-- (issue 12, item 6). An address entry is found by address_hash, the
-- hex HMAC-SHA256 under the server's secret of the lower-cased normalised
-- address, so that it stays suppressed after the subscriber is erased and
-- email (kept beside it only for display) is cleared. A domain entry is
-- found by its value: the lower-case ASCII (punycode) domain. Exactly one
-- of address_hash and domain is set.
CREATE TABLE suppressions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address_hash TEXT UNIQUE,
    -- The address as it was normalised; NULL for a domain, and once erased.
    email TEXT,
    domain TEXT UNIQUE,
    -- admin (added by hand), bounce (a hard bounce) or complaint
    source TEXT NOT NULL CHECK (source IN ('admin', 'bounce', 'complaint')),
    reason TEXT NOT NULL,
    -- Who added it: `admin ann@example.com`, `API token 3`; NULL for bounces.
    added_by TEXT,
    created_at BIGINT NOT NULL,
    CHECK ((address_hash IS NULL) <> (domain IS NULL)),
    CHECK (email IS NULL OR address_hash IS NOT NULL)
);
-- The send's snapshot matches subscribers to address entries by address.
CREATE INDEX suppressions_email ON suppressions (lower(email));
