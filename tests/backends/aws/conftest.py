"""The AWS stand-in (moto's server, started once per session) for every test here."""

from aws_standin import AwsStandin, aws_standin, s3_bucket  # noqa: F401  (fixtures)
