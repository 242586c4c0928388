"""DR posture (RPO/RTO now), its metrics, restore rehearsals and the measured RTO history."""
