"""The Flask extensions, created once and bound to an app in create_app."""

from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest import Api

from halls.schemas import ErrorEnvelope


class HallsApi(Api):
    """flask-smorest, documenting our error envelope instead of its own."""

    ERROR_SCHEMA = ErrorEnvelope


jwt = JWTManager()
limiter = Limiter(key_func=get_remote_address)
cors = CORS()
