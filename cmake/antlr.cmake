# The ANTLR4 front end. The parser sources are generated from dsl/Acnn.g4 by the
# antlr4 tool (Java) at build time; where no Java is available (the GPU
# machine) ACNN_ANTLR_GENERATED points at sources generated elsewhere.
# Sets ACNN_ANTLR_SOURCES, ACNN_ANTLR_INCLUDE_DIRS, ACNN_ANTLR_RUNTIME.
find_package(antlr4-runtime REQUIRED)
set(ACNN_ANTLR_RUNTIME antlr4_shared)
find_path(ACNN_ANTLR_RUNTIME_INCLUDE antlr4-runtime.h PATH_SUFFIXES antlr4-runtime REQUIRED
          HINTS ${ANTLR4_INCLUDE_DIR})

set(_grammar ${CMAKE_CURRENT_SOURCE_DIR}/dsl/Acnn.g4)
set(_names AcnnLexer AcnnParser AcnnBaseVisitor AcnnVisitor)
if(ACNN_ANTLR_GENERATED)
  set(_gen_dir ${ACNN_ANTLR_GENERATED})
  set(ACNN_ANTLR_SOURCES)
  foreach(n ${_names})
    list(APPEND ACNN_ANTLR_SOURCES ${_gen_dir}/${n}.cpp)
  endforeach()
else()
  find_package(Java COMPONENTS Runtime REQUIRED)
  find_file(ANTLR4_JAR NAMES antlr4.jar antlr4-4.7.2.jar PATHS /usr/share/java REQUIRED)
  set(_cp "${ANTLR4_JAR}")
  foreach(j stringtemplate4.jar antlr4-runtime.jar antlr3-runtime.jar treelayout.jar)
    if(EXISTS /usr/share/java/${j})
      string(APPEND _cp ":/usr/share/java/${j}")
    endif()
  endforeach()
  set(_gen_dir ${CMAKE_CURRENT_BINARY_DIR}/antlr)
  set(ACNN_ANTLR_SOURCES)
  set(_outputs)
  foreach(n ${_names})
    list(APPEND ACNN_ANTLR_SOURCES ${_gen_dir}/${n}.cpp)
    list(APPEND _outputs ${_gen_dir}/${n}.cpp ${_gen_dir}/${n}.h)
  endforeach()
  add_custom_command(
    OUTPUT ${_outputs}
    COMMAND ${Java_JAVA_EXECUTABLE} -cp ${_cp} org.antlr.v4.Tool -Dlanguage=Cpp -visitor -no-listener
            -package acnn_antlr -o ${_gen_dir} -Xexact-output-dir ${_grammar}
    DEPENDS ${_grammar}
    COMMENT "Generating the parser from dsl/Acnn.g4")
endif()
set(ACNN_ANTLR_INCLUDE_DIRS ${_gen_dir} ${ACNN_ANTLR_RUNTIME_INCLUDE})
