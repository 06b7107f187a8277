"""Framework integrations: botsessions.integrations.aiogram, botsessions.integrations.ptb."""
