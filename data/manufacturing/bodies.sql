-- Plant 2: pen bodies. 100 rows.
DROP TABLE IF EXISTS production;
DROP TYPE IF EXISTS quality_status;
CREATE TYPE quality_status AS ENUM ('passed', 'failed');
CREATE TABLE production (
    id              integer PRIMARY KEY,
    serial          text NOT NULL,
    production_line text NOT NULL,
    material        text NOT NULL,
    colour          text,
    wall_mm         numeric(4, 2) NOT NULL,
    defects         text[] NOT NULL DEFAULT '{}',
    quality_status  quality_status NOT NULL,
    measurements    jsonb,
    produced_at     timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
COMMENT ON TABLE production IS 'Pen bodies moulded or machined at plant 2';
INSERT INTO production
SELECT g,
       'BD-' || lpad(g::text, 5, '0'),
       (ARRAY['BD-moulding-1', 'BD-moulding-2'])[1 + g % 2],
       (ARRAY['ABS', 'aluminium', 'bamboo', 'ABS', 'ABS'])[1 + (g * 3) % 5],
       CASE WHEN g % 9 = 0 THEN NULL ELSE (ARRAY['black', 'blue', 'red', 'white'])[1 + g % 4] END,
       round(1.10 + (g % 11) * 0.05, 2),
       CASE WHEN (g * 53) % 100 < 14 THEN ARRAY['scratch'] || CASE WHEN g % 2 = 0 THEN ARRAY['warp'] ELSE '{}' END
            ELSE '{}' END,
       CASE WHEN (g * 53) % 100 < 14 THEN 'failed' ELSE 'passed' END::quality_status,
       jsonb_build_object('length_mm', 140 + g % 5, 'roundness', round(0.95 + (g % 5) * 0.01, 2)),
       timestamptz '2025-03-01 07:00:00+00' + g * interval '41 minutes',
       timestamptz '2025-03-01 07:00:00+00' + g * interval '41 minutes' + interval '1 hour'
FROM generate_series(1, 100) AS g;
