"""uploads routes (being written)."""

from flask_smorest import Blueprint

blp = Blueprint("uploads", __name__, url_prefix="/uploads")
