"""`ssl_verify_client`: what each mode does with a client's certificate, in one table.

The only place that says what a verify mode lets through (ngx_http_ssl_module's handshake
verification, ngx_http_process_request's 495/496, ngx_stream_ssl_handler): the model, the
flow and the rules all ask VerifyMode."""

from __future__ import annotations

from enum import Enum


class VerifyMode(str, Enum):
    """A mode of `ssl_verify_client`, equal to its name as written."""

    # mode, $ssl_client_verify values a client without a valid certificate arrives with at
    # the request, the status nginx answers a client without a certificate / with a
    # certificate that fails verification with (0: lets it in), the flow's client kinds
    # without a valid certificate that rules follow through the request phases.
    OFF = ("off", ("NONE",), 0, 0, ("none",))
    ON = ("on", (), 496, 495, ("none",))
    OPTIONAL = ("optional", ("NONE",), 0, 495, ("none",))
    OPTIONAL_NO_CA = ("optional_no_ca", ("NONE", "FAILED:self-signed certificate",
                                         "FAILED:unable to get local issuer certificate"),
                      0, 0, ("none", "failed"))

    lets_through: tuple[str, ...]
    no_certificate_status: int
    failed_status: int
    followed_kinds: tuple[str, ...]

    def __new__(cls, value: str, lets_through: tuple[str, ...], no_certificate: int,
                failed: int, followed: tuple[str, ...]) -> "VerifyMode":
        member = str.__new__(cls, value)
        member._value_ = value
        member.lets_through = lets_through
        member.no_certificate_status = no_certificate
        member.failed_status = failed
        member.followed_kinds = followed
        return member

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return str.__str__(self)

    @classmethod
    def of(cls, text: str) -> "VerifyMode":
        """The mode a value means; a value nginx does not know (`nginx -t` refuses it) as
        `off`, which asks for no certificate."""
        found = cls._value2member_map_.get(text.lower())
        return found if isinstance(found, VerifyMode) else cls.OFF

    @property
    def verifies(self) -> bool:
        """nginx asks for a client certificate and verifies what it gets."""
        return self is not VerifyMode.OFF

    @property
    def lets_unverified_in(self) -> bool:
        """A client without a valid certificate gets past a verifying handshake to the
        request, where only a check of the configuration can refuse it."""
        return self.verifies and bool(self.lets_through)

    @property
    def needs_client_ca(self) -> bool:
        """`nginx -t` wants a CA file to verify with (ngx_http_ssl_merge_srv_conf: "no
        ssl_client_certificate for ssl_verify_client"); `optional_no_ca` does not."""
        return self.verifies and self is not VerifyMode.OPTIONAL_NO_CA

    @property
    def refuses_failed(self) -> bool:
        """nginx itself refuses a certificate that fails verification (495); under
        `optional_no_ca` the failure reaches the handlers as FAILED:..."""
        return self.failed_status != 0

    def handshake_status(self, kind: str) -> int:
        """What nginx answers a client of this kind (the flow's vocabulary) before any
        directive of the request: 496 or 495, 0 when it lets the client in."""
        return {"none": self.no_certificate_status, "failed": self.failed_status}.get(kind, 0)

    def passes(self, kind: str) -> bool:
        """A client of this kind (without a certificate: none; with another CA's or a
        self-signed one: failed, other-ca) gets past the handshake."""
        return self.handshake_status("failed" if kind == "other-ca" else kind) == 0
