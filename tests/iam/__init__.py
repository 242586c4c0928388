"""The IAM gate: every AWS call the functions and the state machine make, checked against their
roles the way IAM decides (see README "IAM gate")."""
