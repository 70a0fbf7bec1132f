"""Prompt-emulated tool calling (grok.com has no function calling): the prompt block, the
markup parser and the streaming sieve, shared by every dialect."""
