import { useEffect, useState } from "preact/hooks";
import type { Me } from "../App";
import { api, message } from "../api";
import { ErrorMessage } from "../components/Messages";

interface User {
  id: string;
  email: string;
  firstName: string;
  lastName: string;
  role: "admin" | "creator" | "consumer";
  status: "active" | "inactive" | "suspended";
  mfaEnabled: boolean;
  lastLoginAt: string | null;
}

interface UserPage {
  items: User[];
  pagination: { page: number; total: number; totalPages: number };
}

/** Accounts, newest first, with their role and status (admins only). */
export function Users({ me }: { me: Me }) {
  const [page, setPage] = useState(1);
  const [users, setUsers] = useState<UserPage | null>(null);
  const [error, setError] = useState<string | null>(null);

  function load() {
    api<UserPage>("GET", `/api/v1/users?page=${page}&limit=50`).then(setUsers, (e: unknown) => {
      setError(message(e));
    });
  }
  useEffect(load, [page]);

  async function change(user: User, patch: Partial<Pick<User, "role" | "status">>) {
    setError(null);
    try {
      await api("PATCH", `/api/v1/users/${user.id}`, { body: patch });
      load();
    } catch (e) {
      setError(message(e));
    }
  }

  return (
    <section>
      <h1>Users</h1>
      <ErrorMessage text={error} />
      {users && (
        <>
          <table class="users">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">MFA</th>
              </tr>
            </thead>
            <tbody>
              {users.items.map((u) => (
                <tr key={u.id}>
                  <td>
                    {u.firstName} {u.lastName}
                  </td>
                  <td>{u.email}</td>
                  <td>
                    <select
                      aria-label={`Role of ${u.email}`}
                      value={u.role}
                      disabled={u.id === me.id}
                      onChange={(e) =>
                        void change(u, { role: e.currentTarget.value as User["role"] })
                      }
                    >
                      <option value="consumer">consumer</option>
                      <option value="creator">creator</option>
                      <option value="admin">admin</option>
                    </select>
                  </td>
                  <td>
                    <select
                      aria-label={`Status of ${u.email}`}
                      value={u.status}
                      disabled={u.id === me.id}
                      onChange={(e) =>
                        void change(u, { status: e.currentTarget.value as User["status"] })
                      }
                    >
                      <option value="active">active</option>
                      <option value="inactive">inactive</option>
                      <option value="suspended">suspended</option>
                    </select>
                  </td>
                  <td>{u.mfaEnabled ? "on" : "off"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav aria-label="Pages" class="pages">
            <button
              type="button"
              disabled={page <= 1}
              onClick={() => {
                setPage(page - 1);
              }}
            >
              Previous
            </button>
            <span>
              Page {users.pagination.page} of {Math.max(users.pagination.totalPages, 1)}
            </span>
            <button
              type="button"
              disabled={page >= users.pagination.totalPages}
              onClick={() => {
                setPage(page + 1);
              }}
            >
              Next
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
