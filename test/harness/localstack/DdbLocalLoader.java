/**
 * A Java agent that does nothing. LocalStack always starts DynamoDB Local with its own agent jar
 * (ddb-local-loader, a patch for more than 20 GSIs) and downloads that jar on first use, which fails offline. The
 * harness compiles this class into a jar of that name instead (test/harness/localstack.ts); the tests need no
 * more than 20 GSIs.
 */
public final class DdbLocalLoader {
  public static void premain(String args, java.lang.instrument.Instrumentation instrumentation) {}
}
