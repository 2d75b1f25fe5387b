/* sys/note.h - annotations for static analysers (no code). */
#ifndef _SYS_NOTE_H
#define _SYS_NOTE_H

#define NOTE(s)
#define _NOTE(s)
#define ARGSUSED(x)

#endif /* _SYS_NOTE_H */
