-- Plant 1: ink refills. 100 rows, deterministic, so the check's numbers are the same on every machine.
DROP TABLE IF EXISTS production;
DROP TYPE IF EXISTS quality_status;
CREATE TYPE quality_status AS ENUM ('passed', 'failed');
CREATE TABLE production (
    id              integer PRIMARY KEY,
    batch_code      text NOT NULL,
    production_line text NOT NULL,
    material        text NOT NULL,
    ink_volume_ml   numeric(6, 3) NOT NULL,
    tip_size_mm     numeric(3, 2) NOT NULL,
    quality_status  quality_status NOT NULL,
    inspected_by    uuid,
    produced_at     timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
COMMENT ON TABLE production IS 'Ink refills produced at plant 1, one row per inspected batch';
INSERT INTO production
SELECT g,
       'RF-' || lpad(g::text, 5, '0'),
       (ARRAY['RF-line-A', 'RF-line-B', 'RF-line-C'])[1 + g % 3],
       (ARRAY['gel ink', 'ballpoint ink', 'rollerball ink', 'gel ink'])[1 + (g * 7) % 4],
       round(0.8 + (g % 17) * 0.025, 3),
       (ARRAY[0.5, 0.7, 1.0])[1 + g % 3],
       CASE WHEN (g * 37) % 100 < 9 OR (g % 3 = 2 AND g % 10 = 5) THEN 'failed' ELSE 'passed' END::quality_status,
       md5('inspector' || (g % 4))::uuid,
       timestamptz '2025-03-01 06:00:00+00' + g * interval '37 minutes',
       timestamptz '2025-03-01 06:00:00+00' + g * interval '37 minutes' + interval '2 hours'
FROM generate_series(1, 100) AS g;
