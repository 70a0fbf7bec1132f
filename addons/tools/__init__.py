"""Prompt-emulated tool calling (api-surface §5): the prompt block, the markup parser and the
streaming sieve, shared by every dialect."""
