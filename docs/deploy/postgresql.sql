-- Run once as the PostgreSQL superuser: a role and a database for the catalog.
-- `lakestow init` then creates the tables (and later versions migrate them).
CREATE ROLE lakestow LOGIN PASSWORD 'CHANGE-ME';
CREATE DATABASE lakestow OWNER lakestow;
