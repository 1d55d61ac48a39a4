"""The PostgreSQL fast paths, behind one door each: a function that does the whole operation or answers None
("not mine"), and the ORM path answers. The verbs call them once, at the top (``kernel.writes``); the models import
none of them. README.md beside this file lists every twin with its measured gain and its equivalence test."""
