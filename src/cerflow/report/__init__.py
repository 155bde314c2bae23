"""CER documents: charts, HTML, PDF, DOCX and facts.json."""
