-- Airflow's metadata database beside the analytics one (POSTGRES_DB creates `analytics`).
CREATE DATABASE airflow;
