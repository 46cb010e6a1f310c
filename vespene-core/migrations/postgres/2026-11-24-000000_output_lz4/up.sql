-- Build output is written far more than it is read; lz4 compresses a log
-- chunk in a fraction of pglz's time for about the same size. Servers built
-- without lz4 keep the default.
DO $$
BEGIN
    ALTER TABLE build_output ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'build_output keeps the default compression: %', SQLERRM;
END
$$;
