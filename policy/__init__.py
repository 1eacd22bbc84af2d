"""A Pulumi policy pack for what the stacks declare: rules.py holds each check, pack.py names and levels them."""
