"""What the DICOS scan and report objects share: SOP classes, identifiers, times, and
reading a file from outside without trusting it.

pydicom knows DICOS's SOP class UIDs and its (4010,xxxx) attributes from the DICOM data
dictionary, but has no DICOS IOD definitions; which attributes are written and read is
decided here and in the two object modules, and listed in ``docs/scanners.md``.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import uuid
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Final

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from streams.dicos.exceptions import DicosError

__all__ = [
    "DICOS_DX_FOR_PROCESSING",
    "DICOS_TDR",
    "IMPLEMENTATION_CLASS_UID",
    "dataset_bytes",
    "dicom_datetime",
    "is_uid",
    "parse_dicom_datetime",
    "read_capped",
    "uid_from_uuid",
]

#: DICOS Digital X-Ray Image Storage - For Processing: the planes before any display step.
DICOS_DX_FOR_PROCESSING: Final[UID] = UID("1.2.840.10008.5.1.4.1.1.501.2.2")
#: DICOS Threat Detection Report Storage.
DICOS_TDR: Final[UID] = UID("1.2.840.10008.5.1.4.1.1.501.3")
#: Names leakguard as the writer in each file's meta header ("2.25." + a fixed UUID).
IMPLEMENTATION_CLASS_UID: Final[UID] = UID("2.25.144196883066371315315466113848307349605")

#: A DICOM UID: digit groups separated by dots, no leading zeros, at most 64 characters.
_UID_PATTERN: Final = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_UID_MAX_CHARS: Final = 64


def is_uid(value: object) -> bool:
    """Whether ``value`` is a syntactically valid DICOM UID."""
    return (
        isinstance(value, str)
        and len(value) <= _UID_MAX_CHARS
        and _UID_PATTERN.fullmatch(value) is not None
    )


def uid_from_uuid(value: uuid.UUID) -> UID:
    """The UID ``2.25.<the UUID as an integer>`` (PS3.5 B.2): derived, so the same input
    always names the same object and a replayed report overwrites itself."""
    return UID(f"2.25.{value.int}")


def dicom_datetime(moment: datetime) -> str:
    """``moment`` as a DICOM DT value in UTC with its offset (``20261206153000.123000+0000``)."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S.%f+0000")


def parse_dicom_datetime(value: object) -> datetime | None:
    """A DT value as an aware UTC datetime; None when it is missing or not a valid time.

    A value without an offset is taken as UTC: the scanner's own time zone is not known here.
    """
    text = str(value or "").strip()
    match = re.fullmatch(r"(\d{14})(\.\d{1,6})?([+-]\d{4})?", text)
    if match is None:
        return None
    digits, fraction, offset = match.groups()
    try:
        moment = datetime.strptime(
            digits + (fraction or ".0") + (offset or "+0000"), "%Y%m%d%H%M%S.%f%z"
        )
    except ValueError:
        return None
    return moment.astimezone(UTC)


def read_capped(path: Path, *, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, refused when over ``max_bytes``.

    Files come from a folder another machine writes into: links, FIFOs and devices are
    refused without being opened (a FIFO would block, ``/dev/zero`` never ends), and the read
    stops one byte past the cap whatever size the file claims.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DicosError(f"{path.name} is a symbolic link, not a file") from exc
        raise DicosError(f"cannot open {path.name}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DicosError(f"{path.name} is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DicosError(f"{path.name} is larger than the {max_bytes} bytes a scan may have")
    return data


def dataset_bytes(dataset: Dataset, *, sop_class: UID) -> bytes:
    """``dataset`` as a DICOM Part 10 file (preamble, meta header, explicit VR little endian)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    file = FileDataset("", dataset, file_meta=meta, preamble=b"\0" * 128)
    buffer = BytesIO()
    file.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
