"""bookings routes (being written)."""

from flask_smorest import Blueprint

blp = Blueprint("bookings", __name__, url_prefix="/bookings")
