# Installing tconv, included by the Makefile.  Honours the usual conventions:
#   make install PREFIX=/usr/local DESTDIR=/tmp/stage
#   LIBDIR, INCLUDEDIR, BINDIR, MANDIR, PKGCONFIGDIR, CMAKEDIR may be set one by one.
# Installs: lib/libtconv.a, lib/libtconv.so.$(VERSION) with the soname link libtconv.so.0 and
# the development link libtconv.so, include/tconv.h, bin/tconv, lib/pkgconfig/tconv.pc,
# lib/cmake/tconv/ (find_package(tconv) -> tconv::tconv, tconv::tconv_static) and the man pages
# share/man/man1/tconv.1 + tconv-<command>.1, generated from the built tool's --help output.
#   make uninstall          removes exactly what install wrote
#   make install-python     the Python binding into PYTHONDIR (default LIBDIR/python3/dist-packages)
#   make man                the man pages in $(BUILD)/man only
#   make abi-check          the exported symbols of $(BUILD)/libtconv.so against abi/tconv.symbols
#   make abi-update         rewrites abi/tconv.symbols from the library (a deliberate API change)
ifeq ($(VERSION),)
$(error could not read TCONV_VERSION_STRING from include/tconv.h)
endif

EXEC_PREFIX  ?= $(PREFIX)
BINDIR       ?= $(EXEC_PREFIX)/bin
LIBDIR       ?= $(EXEC_PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR     ?= $(LIBDIR)/cmake/tconv
INSTALL      ?= install

SHLIB := libtconv.so.$(VERSION)

# The Python binding (python/tconv) and its test load the shared library from the build.
test: $(BUILD)/libtconv.so $(BUILD)/libtconv.so.$(SOVERSION)
all: $(BUILD)/libtconv.so.$(SOVERSION)

# Man pages: regenerated whenever the tool is rebuilt (the --help text lives in its sources).
$(BUILD)/man/tconv.1: $(BUILD)/tconv scripts/gen-man.sh
	rm -rf $(BUILD)/man
	sh scripts/gen-man.sh $(BUILD)/tconv $(BUILD)/man
man: $(BUILD)/man/tconv.1

# Package files depend on the install layout, so they are regenerated on every install.
pkgfiles: $(BUILD)/libtconv.a
	PREFIX='$(PREFIX)' LIBDIR='$(LIBDIR)' INCLUDEDIR='$(INCLUDEDIR)' CMAKEDIR='$(CMAKEDIR)' \
	VERSION='$(VERSION)' SOVERSION='$(SOVERSION)' LIBS='$(strip $(LDLIBS))' \
	SIZEOF_VOID_P="$$(echo __SIZEOF_POINTER__ | $(CC) -E -P - | tr -d ' ')" \
	  sh packaging/configure-files.sh $(BUILD)/pkg

install: all man pkgfiles
	$(INSTALL) -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(LIBDIR)' '$(DESTDIR)$(INCLUDEDIR)' \
	  '$(DESTDIR)$(MANDIR)/man1' '$(DESTDIR)$(PKGCONFIGDIR)' '$(DESTDIR)$(CMAKEDIR)'
	$(INSTALL) -m 755 $(BUILD)/tconv '$(DESTDIR)$(BINDIR)/tconv'
	$(INSTALL) -m 644 $(BUILD)/libtconv.a '$(DESTDIR)$(LIBDIR)/libtconv.a'
	$(INSTALL) -m 755 $(BUILD)/$(SHLIB) '$(DESTDIR)$(LIBDIR)/$(SHLIB)'
	ln -sf $(SHLIB) '$(DESTDIR)$(LIBDIR)/libtconv.so.$(SOVERSION)'
	ln -sf libtconv.so.$(SOVERSION) '$(DESTDIR)$(LIBDIR)/libtconv.so'
	$(INSTALL) -m 644 include/tconv.h '$(DESTDIR)$(INCLUDEDIR)/tconv.h'
	$(INSTALL) -m 644 $(BUILD)/pkg/tconv.pc '$(DESTDIR)$(PKGCONFIGDIR)/tconv.pc'
	$(INSTALL) -m 644 $(BUILD)/pkg/tconvConfig.cmake $(BUILD)/pkg/tconvConfigVersion.cmake \
	  $(BUILD)/pkg/tconvTargets.cmake '$(DESTDIR)$(CMAKEDIR)/'
	$(INSTALL) -m 644 $(BUILD)/man/*.1 '$(DESTDIR)$(MANDIR)/man1/'
	@# A real (unstaged) install as root refreshes the loader cache, or programs would not find
	@# libtconv.so.$(SOVERSION) in /usr/local/lib until the next ldconfig.
	@if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then \
	  ldconfig; fi

# Removes the files install writes (the man pages by the names the current tool gives them).
uninstall: man
	rm -f '$(DESTDIR)$(BINDIR)/tconv' '$(DESTDIR)$(LIBDIR)/libtconv.a' \
	  '$(DESTDIR)$(LIBDIR)/$(SHLIB)' '$(DESTDIR)$(LIBDIR)/libtconv.so.$(SOVERSION)' \
	  '$(DESTDIR)$(LIBDIR)/libtconv.so' '$(DESTDIR)$(INCLUDEDIR)/tconv.h' \
	  '$(DESTDIR)$(PKGCONFIGDIR)/tconv.pc' '$(DESTDIR)$(CMAKEDIR)/tconvConfig.cmake' \
	  '$(DESTDIR)$(CMAKEDIR)/tconvConfigVersion.cmake' '$(DESTDIR)$(CMAKEDIR)/tconvTargets.cmake'
	for f in $(notdir $(wildcard $(BUILD)/man/*.1)); do rm -f '$(DESTDIR)$(MANDIR)/man1/'$$f; done
	-rmdir '$(DESTDIR)$(CMAKEDIR)' 2>/dev/null

# The Python binding, beside a relative link to the installed library (the binding looks next
# to itself first), so `import tconv` works from PYTHONDIR with no environment variable.
PYTHONDIR ?= $(LIBDIR)/python3/dist-packages
install-python:
	$(INSTALL) -d '$(DESTDIR)$(PYTHONDIR)/tconv'
	$(INSTALL) -m 644 python/tconv/*.py '$(DESTDIR)$(PYTHONDIR)/tconv/'
	ln -sf "$$(realpath -m --relative-to='$(PYTHONDIR)/tconv' '$(LIBDIR)/libtconv.so.$(SOVERSION)')" \
	  '$(DESTDIR)$(PYTHONDIR)/tconv/libtconv.so.$(SOVERSION)'
uninstall-python:
	rm -rf '$(DESTDIR)$(PYTHONDIR)/tconv'

abi-check: $(BUILD)/libtconv.so.$(VERSION)
	sh scripts/check-abi.sh $(BUILD)/libtconv.so.$(VERSION)
abi-update: $(BUILD)/libtconv.so.$(VERSION)
	sh scripts/check-abi.sh --update $(BUILD)/libtconv.so.$(VERSION)

.PHONY: install uninstall man pkgfiles abi-check abi-update install-python uninstall-python
