"""SessionOptions: placeholder until the session engine lands."""


class SessionOptions:
    pass
