"""The Discord-free domain: prompts, admission, jobs, users, moderation."""
