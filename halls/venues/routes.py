"""venues routes (being written)."""

from flask_smorest import Blueprint

blp = Blueprint("venues", __name__, url_prefix="/venues")
