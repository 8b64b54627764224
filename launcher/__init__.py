"""The app that starts and stops the platform's processes: `tickerpulse up` and `materialize`,
the table of services they run, and how a service is started, watched and stopped. The domain
(tickerpulse/) starts no process; this app names the others' modules only as command lines."""
