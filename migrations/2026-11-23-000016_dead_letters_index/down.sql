DROP INDEX deliveries_dead_idx;
