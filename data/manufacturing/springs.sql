-- Plant 3: springs. 150 rows.
DROP TABLE IF EXISTS production;
DROP TYPE IF EXISTS quality_status;
CREATE TYPE quality_status AS ENUM ('passed', 'failed');
CREATE TABLE production (
    id              integer PRIMARY KEY,
    lot             text NOT NULL,
    production_line text NOT NULL,
    material        text NOT NULL,
    wire_mm         numeric(4, 3) NOT NULL,
    coils           smallint NOT NULL,
    load_n          double precision NOT NULL,
    cycle_time      interval NOT NULL,
    quality_status  quality_status NOT NULL,
    produced_on     date NOT NULL,
    produced_at     timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
COMMENT ON TABLE production IS 'Compression springs coiled at plant 3';
INSERT INTO production
SELECT g,
       'SP-' || lpad(g::text, 5, '0'),
       (ARRAY['SP-coiler-1', 'SP-coiler-2', 'SP-coiler-3'])[1 + (g - 1) / 50],
       (ARRAY['stainless steel', 'music wire', 'phosphor bronze'])[1 + (g * 11) % 3],
       round(0.300 + (g % 6) * 0.05, 3),
       (8 + g % 5)::smallint,
       round((2.5 + (g % 13) * 0.3)::numeric, 2)::double precision,
       make_interval(secs => 1.5 + (g % 7) * 0.25),
       CASE WHEN (g * 29) % 100 < 7 + ((g - 1) / 50) * 3 THEN 'failed' ELSE 'passed' END::quality_status,
       date '2025-03-01' + g / 24,
       timestamptz '2025-03-01 05:00:00+00' + g * interval '1 hour',
       timestamptz '2025-03-01 05:00:00+00' + g * interval '1 hour' + interval '30 minutes'
FROM generate_series(1, 150) AS g;
