"""goldstar.inputs."""
