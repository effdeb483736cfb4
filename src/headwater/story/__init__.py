"""The stories headwater plays end to end on a stack (`headwater demo`)."""
