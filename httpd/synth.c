/* synth.c -- espeak-ng synthesis streamed into a WAV file, published by an atomic rename. */
#include "synth.h"
#include "log.h"
#include "util.h"
#include "wav.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <espeak-ng/speak_lib.h>

#define SYNTH_TEMP_MARK ".tmp."
#define SYNTH_MAX_SECONDS 1800 /* far above what the text limit allows; bounds the file */

/* State of the synthesis in progress. espeak-ng passes user data only inside its event
 * lists; a file-scope pointer is simpler, and only one synthesis runs at a time. */
struct synth_job {
	int fd;
	uint8_t buf[32 * 1024]; /* samples as little-endian bytes, written when full */
	size_t fill;
	uint64_t data_bytes;
	uint64_t max_bytes;
	int error; /* errno of the first failure; aborts synthesis */
};

static int synth_rate; /* samples per second, from espeak_Initialize */
static char synth_voice[CLIP_VOICE_MAX];
static struct synth_job *synth_current;

static int synth_samples_cb(short *wav, int count, espeak_EVENT *events);

int
synth_init(char *err, size_t errlen)
{
	/* DONT_EXIT: without it a missing data directory ends the process inside the library. */
	int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, espeakINITIALIZE_DONT_EXIT);

	if (rate <= 0) {
		snprintf(err, errlen, "espeak-ng initialisation failed (data files missing?)");
		return -1;
	}
	synth_rate = rate;
	espeak_SetSynthCallback(synth_samples_cb);
	return 0;
}

static int
synth_select_voice(const char *voice)
{
	if (strcmp(voice, synth_voice) == 0)
		return 0;
	if (!clip_voice_valid(voice))
		return -1;
	if (espeak_SetVoiceByName(voice) != EE_OK) {
		synth_voice[0] = '\0'; /* what espeak-ng has selected now is unknown */
		return -1;
	}
	snprintf(synth_voice, sizeof(synth_voice), "%s", voice);
	return 0;
}

int
synth_voice_known(const char *voice)
{
	return synth_rate > 0 && synth_select_voice(voice) == 0;
}

static int
synth_flush(struct synth_job *job)
{
	size_t off = 0;

	while (off < job->fill) {
		ssize_t n = write(job->fd, job->buf + off, job->fill - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	job->fill = 0;
	return 0;
}

/* espeak-ng hands over samples in pieces; returning 1 aborts the synthesis. */
static int
synth_samples_cb(short *wav, int count, espeak_EVENT *events)
{
	struct synth_job *job = synth_current;

	(void)events;
	if (job == NULL || job->error != 0)
		return 1;
	if (wav == NULL || count <= 0)
		return 0;
	if (job->data_bytes + (uint64_t)count * 2 > job->max_bytes) {
		job->error = EFBIG;
		return 1;
	}
	for (int i = 0; i < count; i++) {
		uint16_t s = (uint16_t)wav[i];

		if (job->fill + 2 > sizeof(job->buf) && (job->error = -synth_flush(job)) != 0)
			return 1;
		job->buf[job->fill++] = (uint8_t)s;
		job->buf[job->fill++] = (uint8_t)(s >> 8);
	}
	job->data_bytes += (uint64_t)count * 2;
	return 0;
}

static int
write_all_at(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n;

	do
		n = pwrite(fd, buf, len, off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rv = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rv = -errno;
	close(fd);
	return rv;
}

/* Synthesize text into the open file fd: placeholder header, samples, real header, fsync. */
static int
synth_to_file(struct synth_job *job, const char *text, size_t len, char *err, size_t errlen)
{
	uint8_t head[WAV_HEADER_LEN] = {0};
	espeak_ERROR e;
	int rv;

	if ((rv = write_all_at(job->fd, head, sizeof(head), 0)) < 0) {
		snprintf(err, errlen, "write: %s", strerror(-rv));
		return rv;
	}
	if (lseek(job->fd, sizeof(head), SEEK_SET) < 0) {
		rv = -errno;
		snprintf(err, errlen, "lseek: %s", strerror(-rv));
		return rv;
	}
	job->max_bytes = (uint64_t)synth_rate * 2 * SYNTH_MAX_SECONDS;
	synth_current = job;
	e = espeak_Synth(text, len + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8 | espeakENDPAUSE,
	                 NULL, NULL);
	synth_current = NULL;
	if (job->error != 0) {
		snprintf(err, errlen, "writing samples: %s", strerror(job->error));
		return -job->error;
	}
	if (e != EE_OK) {
		snprintf(err, errlen, "espeak-ng synthesis failed (%d)", (int)e);
		return -EIO;
	}
	if ((rv = synth_flush(job)) < 0) {
		snprintf(err, errlen, "write: %s", strerror(-rv));
		return rv;
	}
	if (job->data_bytes == 0) {
		snprintf(err, errlen, "the text produced no audio");
		return -EINVAL;
	}
	wav_header_build(head, (uint32_t)synth_rate, 1, 16, (uint32_t)job->data_bytes);
	if ((rv = write_all_at(job->fd, head, sizeof(head), 0)) == 0 && fsync(job->fd) < 0)
		rv = -errno;
	if (rv < 0) {
		snprintf(err, errlen, "finishing the file: %s", strerror(-rv));
		return rv;
	}
	return 0;
}

int
synth_probe(const char *path, uint64_t *bytes, uint32_t *duration_ms, char *err, size_t errlen)
{
	uint8_t head[512];
	struct wav_info info;
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, "%s", strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "not a regular file");
		return -EINVAL;
	}
	do
		n = pread(fd, head, sizeof(head), 0);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "read: %s", strerror(errno));
		return -EIO;
	}
	if (wav_header_parse(head, (size_t)n, (uint64_t)st.st_size, &info, err, errlen) < 0)
		return -EINVAL;
	*bytes = (uint64_t)st.st_size;
	*duration_ms = info.duration_ms;
	return 0;
}

int
synth_clip(const char *dir, const char *voice, const char *text, size_t len,
           struct synth_result *res)
{
	char path[512], tmp[560], why[160];
	struct synth_job *job;
	char *copy;
	int n, rv;

	memset(res, 0, sizeof(*res));
	clip_name(voice, text, len, res->name);
	n = snprintf(path, sizeof(path), "%s/%s", dir, res->name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(res->error, sizeof(res->error), "cache path too long");
		return -ENAMETOOLONG;
	}
	if ((rv = synth_probe(path, &res->bytes, &res->duration_ms, why, sizeof(why))) == 0) {
		res->cached = 1;
		return 0;
	}
	if (rv != -ENOENT)
		log_warnx("%s: unusable cached clip (%s), synthesizing again", res->name, why);
	if (synth_rate <= 0) {
		snprintf(res->error, sizeof(res->error), "speech synthesis is not available");
		return -ENOSYS;
	}
	if (synth_select_voice(voice) < 0) {
		snprintf(res->error, sizeof(res->error), "unknown voice '%s'", voice);
		return -ENOENT;
	}
	/* espeak-ng wants a terminated string. */
	if ((copy = malloc(len + 1)) == NULL || (job = calloc(1, sizeof(*job))) == NULL) {
		free(copy);
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -ENOMEM;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	snprintf(tmp, sizeof(tmp), "%s%s%ld", path, SYNTH_TEMP_MARK, (long)getpid());
	job->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (job->fd < 0 && errno == ENOENT && util_mkdir_p(dir, 0700) == 0) {
		log_warnx("%s was gone; created it again", dir);
		job->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	}
	if (job->fd < 0) {
		rv = -errno;
		snprintf(res->error, sizeof(res->error), "creating %s: %s", tmp, strerror(-rv));
	} else {
		rv = synth_to_file(job, copy, len, res->error, sizeof(res->error));
		if (close(job->fd) < 0 && rv == 0) {
			rv = -errno;
			snprintf(res->error, sizeof(res->error), "close: %s", strerror(-rv));
		}
		if (rv == 0 && rename(tmp, path) < 0) {
			rv = -errno;
			snprintf(res->error, sizeof(res->error), "rename: %s", strerror(-rv));
		}
		if (rv < 0)
			unlink(tmp);
		else if (fsync_dir(dir) < 0)
			log_warn("%s: fsync",
			         dir); /* the clip is complete; only its name may lag */
	}
	free(job);
	free(copy);
	if (rv == 0 &&
	    (rv = synth_probe(path, &res->bytes, &res->duration_ms, why, sizeof(why))) < 0)
		snprintf(res->error, sizeof(res->error), "reading back the clip: %s", why);
	return rv;
}

int
synth_clean_temp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int removed = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".wav" SYNTH_TEMP_MARK) == NULL)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

void
synth_shutdown(void)
{
	if (synth_rate > 0)
		espeak_Terminate();
	synth_rate = 0;
}
