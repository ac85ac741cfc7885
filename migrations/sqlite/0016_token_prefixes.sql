-- The first characters of each new API token, shown on the tokens page so
-- that two tokens with the same name can be told apart. Tokens made before
-- have none.
ALTER TABLE api_tokens ADD COLUMN token_prefix TEXT;
