"""The PDF path: PDF files, or PDFs a web job routed aside, become text records page by page (text layer or OCR)."""
