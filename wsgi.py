"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from halls import config, create_app

config.load_env_file()
app = create_app()
