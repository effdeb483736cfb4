"""Resource types: Concourse's check / in / out, built in or as external executables."""
