-- Fast time (issue 28): the GPU seconds each job spent on its worker's device, measured
-- there (its share of a fused call, by work; failed, cancelled and interrupted runs count:
-- what was spent is spent). NULL: it has not run.

ALTER TABLE jobs ADD COLUMN gpu_seconds REAL;
