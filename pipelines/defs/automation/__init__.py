"""Automation: sensors on new Nmbrs runs and companies, schedules, the sync job, checks and alerts."""
