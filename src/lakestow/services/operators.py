"""Operators (long-lived keys for plain S3 buckets outside every organization) and the
buckets they create."""

from __future__ import annotations

from sqlalchemy import select

from lakestow import paths
from lakestow.auth import credentials
from lakestow.catalog import audit
from lakestow.catalog.models import Operator, OperatorBucket, Organization
from lakestow.domain import OperatorInfo, OperatorKeys
from lakestow.errors import AlreadyExists, NotFound
from lakestow.services._rows import Base


class OperatorService(Base):
    """Operators and their buckets, changed on behalf of `actor`."""

    def create_operator(self, name: str) -> OperatorKeys:
        """A new operator and its key pair: the secret is shown this once."""
        paths.check_name("member", name)
        access_key_id, secret, sealed = credentials.mint_operator(self.keyring)
        with self.catalog.session() as session:
            if session.scalar(select(Operator).where(Operator.name == name)):
                raise AlreadyExists(f"the operator {name!r} already exists")
            session.add(Operator(name=name, access_key_id=access_key_id, sealed_secret=sealed))
            audit.record(session, self.actor, "operator.create", name, access_key_id=access_key_id)
        return OperatorKeys(access_key_id, secret)

    def list_operators(self) -> list[OperatorInfo]:
        with self.catalog.session() as session:
            return [
                OperatorInfo(o.name, o.access_key_id, o.disabled)
                for o in session.scalars(select(Operator).order_by(Operator.name))
            ]

    def set_operator_disabled(self, name: str, disabled: bool = True) -> None:
        with self.catalog.session() as session:
            operator = session.scalar(select(Operator).where(Operator.name == name))
            if operator is None:
                raise NotFound(f"no operator named {name!r}")
            operator.disabled = disabled
            audit.record(
                session, self.actor, "operator.disable" if disabled else "operator.enable", name
            )

    def claim_bucket(self, operator_id: int, bucket: str) -> None:
        """Record that an operator created `bucket`; refuse names that are taken."""
        paths.check_name("bucket", bucket)
        with self.catalog.session() as session:
            if session.scalar(select(Organization).where(Organization.bucket == bucket)):
                raise AlreadyExists(
                    f"the bucket {bucket!r} holds organizations", code="BucketAlreadyExists"
                )
            owner = session.get(OperatorBucket, bucket)
            if owner is not None:
                code = (
                    "BucketAlreadyOwnedByYou"
                    if owner.operator_id == operator_id
                    else "BucketAlreadyExists"
                )
                raise AlreadyExists(f"the bucket {bucket!r} already exists", code=code)
            session.add(OperatorBucket(name=bucket, operator_id=operator_id))
            audit.record(session, self.actor, "bucket.create", bucket)

    def release_bucket(self, bucket: str) -> None:
        with self.catalog.session() as session:
            owned = session.get(OperatorBucket, bucket)
            if owned is not None:
                session.delete(owned)
                audit.record(session, self.actor, "bucket.delete", bucket)
