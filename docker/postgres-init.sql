CREATE DATABASE dagster OWNER tickerpulse;
CREATE DATABASE mlflow OWNER tickerpulse;
