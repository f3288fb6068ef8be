"""The real type of a file, read from its first bytes (never its name or the client's
header), against the allowlist of what a case file may hold."""

from __future__ import annotations

import zipfile
from pathlib import Path

# type -> (file name extension, served inline in the browser)
ALLOWED: dict[str, tuple[str, bool]] = {
    "application/pdf": (".pdf", True),
    "image/jpeg": (".jpg", True),
    "image/png": (".png", True),
    "image/webp": (".webp", True),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx", False),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx", False),
    "audio/mpeg": (".mp3", False),
    "audio/mp4": (".m4a", False),
    "audio/wav": (".wav", False),
    "video/mp4": (".mp4", False),
    # Phone photos (HEIF/HEIC) and China's fixed-layout format (OFD, GB/T 33190-2016): known
    # from their bytes alone, kept and downloaded as they are — no browser but Safari shows
    # HEIC and none shows OFD, so neither is served inline nor shown as a thumbnail.
    "image/heic": (".heic", False),
    "application/ofd": (".ofd", False),
}
READABLE = "PDF, JPEG, PNG, WebP, HEIC, DOCX, XLSX, OFD, MP3, M4A, WAV, MP4"
_HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx")
_OOXML = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_OOXML_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml":
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml":
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _zip_type(path: Path) -> str | None:
    """DOCX or XLSX: a zip whose [Content_Types].xml declares the main part of one; OFD: a
    zip whose entry file OFD.xml at the root is an `ofd:OFD` document (GB/T 33190)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if "OFD.xml" in names and z.getinfo("OFD.xml").file_size <= 1024 * 1024:
                entry = z.read("OFD.xml").decode("utf-8", "replace")
                return "application/ofd" if ":OFD" in entry or "<OFD" in entry else None
            if "[Content_Types].xml" not in names:
                return None
            info = z.getinfo("[Content_Types].xml")
            if info.file_size > 1024 * 1024:
                return None
            declared = z.read("[Content_Types].xml").decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return None
    for main, kind in _OOXML_MAIN.items():
        if main in declared:
            return kind
    return None


def sniff(path: Path) -> str | None:
    """The allowed type of the file's content, or None (not one we accept)."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
                                   and head[1] & 0x06):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand in (b"isom", b"iso2", b"mp41", b"mp42", b"avc1", b"MSNV", b"dash", b"M4V "):
            return "video/mp4"
        # HEIF: an HEVC-coded brand, or the generic mif1/msf1 listing one among its compatibles.
        size = int.from_bytes(head[:4], "big")
        compatible = head[16:min(size, len(head))]
        if brand in _HEIC_BRANDS or (brand in (b"mif1", b"msf1") and any(
                compatible[i:i + 4] in _HEIC_BRANDS for i in range(0, len(compatible) - 3, 4))):
            return "image/heic"
        return None
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(path)
    return None


def inline(content_type: str) -> bool:
    """Whether a browser may show it in place: PDFs and images; everything else downloads."""
    return ALLOWED.get(content_type, ("", False))[1]
