CREATE DATABASE dagster OWNER tickerpulse;
